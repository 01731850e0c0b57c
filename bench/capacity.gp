# capacity.gp -- draws bench/capacity.sh's CSV: called as
#   gnuplot -e "csv='capacity.csv'; out='capacity.svg'; subs='1 4 16'; p99max=20; title='...'" capacity.gp
# One colour per subscriber count; p99 solid, p50 dashed; a cross marks a step that failed. Latency axes are logarithmic; values
# under 0.01 ms (a delivery can reach the sink before the 202 reaches the producer, so lag can
# be negative) are drawn at 0.01 ms; a p99 lag that never arrived (nan in the CSV) is left out.
if (!exists("title")) title = ""
if (!exists("result")) result = ""
if (!exists("p99max")) p99max = 20

# out ending in .png draws a PNG instead (pngcairo), e.g. to preview where no SVG viewer is at hand.
if (out[strlen(out)-3:] eq ".png") {
    set terminal pngcairo size 1200,900 enhanced font "sans,10" background rgb "white"
} else {
    set terminal svg size 1200,900 dynamic enhanced font "sans,12" background rgb "white"
}
set output out
set datafile separator ","
set datafile columnheaders
set datafile missing "nan"

colour(i) = word("#1f77b4 #d62728 #2ca02c #9467bd #ff7f0e #8c564b", (i - 1) % 6 + 1)
# Only the rows that decided their step (a failed run that was repeated is left out): filtered
# before gnuplot reads them, since a skipped row inside a line would break the line.
data = sprintf("< awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == \"counted\") c = i } NR == 1 || $c == 1' '%s'", csv)
pick(i, v) = (strcol("subscribers") eq word(subs, i)) ? v : NaN
floor_ms(v) = v < 0.01 ? 0.01 : v
nsubs = words(subs)

set multiplot layout 2,2 title "hookgate capacity (bench/capacity.sh), ".title.(result eq "" ? "" : "\n".result)
set grid
set key below horizontal maxrows 3 width -2
unset xlabel # in the titles: the key sits under each plot
set autoscale xfix
set offsets graph 0.03, graph 0.03, 0, 0
set format x "%gk"
set logscale x 2
set xtics (0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128)

# 1. Ingest latency, from each request's due time.
set title "ingest latency (open loop, from due time) vs offered events/s"
set ylabel "ms"
set logscale y
plot for [i=1:nsubs] data using (column("offered_eps")/1000.0):(pick(i, floor_ms(column("ingest_p99_ms")))) \
        with linespoints lw 2 pt 7 ps 0.6 lc rgb colour(i) title word(subs, i)." sub p99", \
     for [i=1:nsubs] data using (column("offered_eps")/1000.0):(pick(i, floor_ms(column("ingest_p50_ms")))) \
        with linespoints lw 1 dt 2 pt 6 ps 0.6 lc rgb colour(i) title word(subs, i)." sub p50", \
     for [i=1:nsubs] data using (column("offered_eps")/1000.0):(pick(i, column("pass") == 0 ? floor_ms(column("ingest_p99_ms")) : NaN)) \
        with points pt 2 ps 1.6 lw 2 lc rgb colour(i) notitle, \
     NaN with points pt 2 ps 1.6 lw 2 lc rgb "black" title "step failed", \
     p99max with lines lw 1 dt 3 lc rgb "black" title sprintf("p99 bound %g ms", p99max)

# 2. Delivery lag: sink receive time minus the 202 time of the event.
set title "delivery lag (sink receive - 202) vs offered events/s"
plot for [i=1:nsubs] data using (column("offered_eps")/1000.0):(pick(i, floor_ms(column("lag_p99_ms")))) \
        with linespoints lw 2 pt 7 ps 0.6 lc rgb colour(i) title word(subs, i)." sub p99", \
     for [i=1:nsubs] data using (column("offered_eps")/1000.0):(pick(i, floor_ms(column("lag_p50_ms")))) \
        with linespoints lw 1 dt 2 pt 6 ps 0.6 lc rgb colour(i) title word(subs, i)." sub p50"

# 3. Achieved ingest rate against offered.
set title "achieved ingest rate vs offered events/s"
set ylabel "acknowledged events/s"
set format y "%gk"
plot for [i=1:nsubs] data using (column("offered_eps")/1000.0):(pick(i, column("achieved_eps")/1000.0)) \
        with linespoints lw 2 pt 7 ps 0.6 lc rgb colour(i) title word(subs, i)." sub", \
     x with lines lw 1 dt 3 lc rgb "black" title "= offered"

# 4. Backlog during the step (the pass condition uses its largest sample) and at its end.
set title "pending deliveries vs offered events/s: max in step (solid), at end (dashed)"
set ylabel "pending deliveries"
set logscale y
set format y "%g"
plot for [i=1:nsubs] data using (column("offered_eps")/1000.0):(pick(i, column("backlog_max") < 1 ? 1 : column("backlog_max"))) \
        with linespoints lw 2 pt 7 ps 0.6 lc rgb colour(i) title word(subs, i)." sub", \
     for [i=1:nsubs] data using (column("offered_eps")/1000.0):(pick(i, column("backlog_end") < 1 ? 1 : column("backlog_end"))) \
        with linespoints lw 1 dt 2 pt 6 ps 0.6 lc rgb colour(i) notitle, \
     for [i=1:nsubs] data using (column("offered_eps")/1000.0):(pick(i, column("backlog_start") + column("backlog_bound"))) \
        with lines lw 1 dt 3 lc rgb colour(i) title word(subs, i)." sub bound"
unset multiplot
