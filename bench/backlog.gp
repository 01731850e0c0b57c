# backlog.gp -- draws bench/backlog.sh's CSV: called as
#   gnuplot -e "csv='backlog.csv'; out='backlog.svg'; rssmax=128; title='...'" backlog.gp
# Build steps (ingest with the subscriber stopped) in blue, drain steps in red, both against
# the backlog (pending deliveries) at the end of the step: the build moves right, the drain
# left. out ending in .png draws a PNG instead.
if (!exists("title")) title = ""
if (!exists("rssmax")) rssmax = 128

if (out[strlen(out)-3:] eq ".png") {
    set terminal pngcairo size 1200,900 enhanced font "sans,10" background rgb "white"
} else {
    set terminal svg size 1200,900 dynamic enhanced font "sans,12" background rgb "white"
}
set output out
set datafile separator ","
set datafile columnheaders
set datafile missing "nan"

build = "#1f77b4"
drain = "#d62728"
phase(p, v) = (strcol("phase") eq p) ? v : NaN
mib(k) = k / 1024.0

set multiplot layout 2,2 title "hookgate backlog at scale (bench/backlog.sh), ".title
set grid
set key below horizontal
set format x "%.1s%c"
set xlabel "pending deliveries"
set xrange [0:*]

# 1. Ingest rate while the backlog grows, delivery rate while it shrinks.
set title "rate per step vs backlog"
set ylabel "events/s"
set yrange [0:*]
set format y "%.0s%c"
plot csv using (column("backlog")):(phase("build", column("rate_eps"))) \
        with linespoints lw 2 pt 7 ps 0.4 lc rgb build title "ingest (backlog growing)", \
     csv using (column("backlog")):(phase("drain", column("rate_eps"))) \
        with linespoints lw 2 pt 7 ps 0.4 lc rgb drain title "delivered at the sink (draining)"

# 2. Resident memory: anonymous (heap) and file pages (LMDB's map) apart.
set title "hookgate RSS vs backlog (solid: build, dashed: drain; log scale)"
set ylabel "MiB"
set format y "%g"
set logscale y
plot csv using (column("backlog")):(phase("build", mib(column("vmrss_kib")))) \
        with lines lw 2 lc rgb "black" title "VmRSS", \
     csv using (column("backlog")):(phase("build", mib(column("rss_anon_kib")))) \
        with lines lw 2 lc rgb build title "RssAnon", \
     csv using (column("backlog")):(phase("build", mib(column("rss_file_kib")))) \
        with lines lw 2 lc rgb "#2ca02c" title "RssFile (LMDB map)", \
     csv using (column("backlog")):(phase("drain", mib(column("vmrss_kib")))) \
        with lines lw 1 dt 2 lc rgb "black" notitle, \
     csv using (column("backlog")):(phase("drain", mib(column("rss_anon_kib")))) \
        with lines lw 1 dt 2 lc rgb build notitle, \
     csv using (column("backlog")):(phase("drain", mib(column("rss_file_kib")))) \
        with lines lw 1 dt 2 lc rgb "#2ca02c" notitle, \
     rssmax with lines lw 1 dt 3 lc rgb "black" title sprintf("target %g MiB", rssmax)

unset logscale y

# 3. hookgate's own CPU time per event (all threads; in the drain also the delivery thread
# alone): flat means its work per event does not grow with the backlog, whatever the rate did
# on a shared machine. The build's user and kernel parts are drawn apart: hookgate's code is
# the user part, the page cache's growth the kernel's.
set title "hookgate CPU time per event vs backlog"
set ylabel "CPU us per event"
plot csv using (column("backlog")):(phase("build", column("cpu_us_per_event"))) \
        with linespoints lw 2 pt 7 ps 0.4 lc rgb build title "ingest, all threads", \
     csv using (column("backlog")):(phase("drain", column("cpu_us_per_event"))) \
        with linespoints lw 2 pt 7 ps 0.4 lc rgb drain title "drain, all threads", \
     csv using (column("backlog")):(phase("drain", column("dlv_cpu_us_per_event"))) \
        with lines lw 1 dt 2 lc rgb drain title "drain, delivery thread", \
     csv using (column("backlog")):(phase("build", column("user_us_per_event"))) \
        with lines lw 1 dt 2 lc rgb build title "ingest, user", \
     csv using (column("backlog")):(phase("build", column("sys_us_per_event"))) \
        with lines lw 1 dt 3 lc rgb build title "ingest, kernel"

# 4. The whole run against time.
set title "backlog and store size over the run"
set xlabel "seconds since start"
set format x "%g"
set ylabel "pending deliveries"
set format y "%.1s%c"
set y2label "store in use, MiB"
set y2tics
set ytics nomirror
plot csv using (column("elapsed_s")):(phase("build", column("backlog"))) \
        with linespoints lw 2 pt 7 ps 0.4 lc rgb build title "backlog (build)", \
     csv using (column("elapsed_s")):(phase("drain", column("backlog"))) \
        with linespoints lw 2 pt 7 ps 0.4 lc rgb drain title "backlog (drain)", \
     csv using (column("elapsed_s")):(column("store_used_mib")) axes x1y2 \
        with lines lw 1 dt 2 lc rgb "black" title "store in use (right axis)"
unset multiplot
