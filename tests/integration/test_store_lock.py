"""One gateway per data_dir: a second gateway started on a data_dir in use exits at once with
the holder's pid, and the first keeps serving."""
import subprocess
import time
import unittest

from harness import Gateway, binary, envelope


class StoreLockTest(unittest.TestCase):
    def test_second_gateway_on_the_same_data_dir_is_refused(self):
        first = Gateway()
        self.addCleanup(first.remove)
        first.start()
        data_dir = first.config["data_dir"]
        self.assertEqual(first.post(envelope(id_="before")).status, 202)

        second = Gateway(data_dir=data_dir)
        self.addCleanup(second.remove)
        started = time.monotonic()
        out = subprocess.run([binary(), "--config", second.config_path], capture_output=True,
                             text=True, timeout=10)
        self.assertLess(time.monotonic() - started, 3)
        self.assertEqual(out.returncode, 1, out)
        self.assertIn("data_dir %s is in use (pid %d)" % (data_dir, first.proc.pid), out.stderr)

        # The first gateway never noticed.
        self.assertIsNone(first.proc.poll())
        self.assertEqual(first.post(envelope(id_="after")).status, 202)
        self.assertEqual(first.event("before").status, 200)
        self.assertEqual(first.event("after").status, 200)
        self.assertEqual(first.stop(), 0)

        # Once it is gone the data_dir is free, with everything it stored.
        second.start()
        self.assertEqual(second.event("before").status, 200)
        self.assertEqual(second.event("after").status, 200)


if __name__ == "__main__":
    unittest.main()
