"""Running as a service: `meson install --destdir` of the build under test installs the two
programs, the example config and the systemd unit; the unit passes `systemd-analyze verify`
and holds the hardening the README promises; the installed config is valid as installed; and
a second install keeps an operator's edited config."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from harness import binary

UNIT_SETTINGS = {
    "DynamicUser": "yes",
    "StateDirectory": "hookgate",
    "ProtectSystem": "strict",
    "NoNewPrivileges": "yes",
    "ExecReload": "/bin/kill -HUP $MAINPID",
    "Restart": "on-failure",
}


def run(*args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)


def introspect(build_dir):
    """(prefix, bindir, sysconfdir) of the build dir, from `meson introspect`."""
    r = run("meson", "introspect", "--buildoptions", build_dir)
    assert r.returncode == 0, r.stderr
    opts = {o["name"]: o["value"] for o in json.loads(r.stdout)}
    prefix = opts["prefix"]
    return prefix, os.path.join(prefix, opts["bindir"]), os.path.join(prefix, opts["sysconfdir"])


class ServiceInstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.build_dir = os.path.dirname(os.path.abspath(binary()))
        cls.prefix, cls.bindir, cls.sysconfdir = introspect(cls.build_dir)
        cls.dest = tempfile.mkdtemp(prefix="hookgate-install-")
        first = cls.install()
        if first.returncode != 0:  # every test needs the install
            shutil.rmtree(cls.dest, ignore_errors=True)
            raise AssertionError("meson install failed:\n" + first.stdout + first.stderr)

    @classmethod
    def install(cls):
        return run("meson", "install", "-C", cls.build_dir, "--no-rebuild", "--destdir", cls.dest)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dest, ignore_errors=True)

    def staged(self, path):
        """path (absolute, as on the target) inside the destdir."""
        return os.path.join(self.dest, path.lstrip("/"))

    def unit_path(self):
        return self.staged(os.path.join(self.prefix, "lib/systemd/system/hookgate.service"))

    def test_files_installed(self):
        for name in ("hookgate", "hookgate-admin"):
            path = self.staged(os.path.join(self.bindir, name))
            self.assertTrue(os.access(path, os.X_OK), path)
        conf = self.staged(os.path.join(self.sysconfdir, "hookgate"))
        self.assertEqual(sorted(os.listdir(conf)), ["hookgate.example.json", "hookgate.json"])
        self.assertTrue(os.path.isfile(self.unit_path()))

    def test_installed_program_accepts_installed_config(self):
        hookgate = self.staged(os.path.join(self.bindir, "hookgate"))
        conf = self.staged(os.path.join(self.sysconfdir, "hookgate", "hookgate.json"))
        r = run(hookgate, "--config", conf, "--check")
        self.assertEqual((r.returncode, r.stdout), (0, "ok\n"), r.stderr)
        with open(conf) as f:
            self.assertIn('"data_dir": "/var/lib/hookgate"', f.read())

    def test_unit_settings(self):
        with open(self.unit_path()) as f:
            text = f.read()
        settings = dict(re.findall(r"^(\w+)=(.*)$", text, re.M))
        for key, value in UNIT_SETTINGS.items():
            self.assertEqual(settings.get(key), value, key)
        conf = os.path.join(self.sysconfdir, "hookgate", "hookgate.json")
        self.assertEqual(settings["ExecStart"],
                         "%s/hookgate --config %s" % (self.bindir, conf))
        self.assertNotIn("User=root", text)

    def test_systemd_analyze_verify(self):
        # The unit names the programs where they will be on the target; verify checks that
        # they exist, so check a copy whose paths point into the destdir instead.
        with open(self.unit_path()) as f:
            text = f.read()
        staged = self.staged(self.prefix).rstrip("/")
        rebased = text.replace(self.prefix.rstrip("/") + "/", staged + "/")
        if not self.sysconfdir.startswith(self.prefix):
            rebased = rebased.replace(self.sysconfdir, self.staged(self.sysconfdir))
        unit_dir = tempfile.mkdtemp(prefix="hookgate-unit-")
        self.addCleanup(shutil.rmtree, unit_dir, True)
        unit = os.path.join(unit_dir, "hookgate.service")
        with open(unit, "w") as f:
            f.write(rebased)
        r = run("systemd-analyze", "verify", unit)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("hookgate.service", r.stderr, r.stderr)  # no warnings about it

    def test_reinstall_keeps_operator_config(self):
        conf = self.staged(os.path.join(self.sysconfdir, "hookgate", "hookgate.json"))
        with open(conf, "a") as f:
            f.write("\n")  # the operator's edit
        with open(conf) as f:
            edited = f.read()
        r = self.install()
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(conf) as f:
            self.assertEqual(f.read(), edited)


if __name__ == "__main__":
    unittest.main()
