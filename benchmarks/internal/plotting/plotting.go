package plotting

import (
	"errors"
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
)

// ErrEmpty is returned for a figure with nothing to draw.
var ErrEmpty = errors.New("plotting: nothing to plot")

// Series is one system's values, one per group (NaN: not measured).
type Series struct {
	Name   string
	Values []float64
}

// palette is colour-blind-safe (Okabe–Ito); edgelog is always first.
var palette = []color.Color{
	color.RGBA{0, 114, 178, 255},   // blue
	color.RGBA{230, 159, 0, 255},   // orange
	color.RGBA{0, 158, 115, 255},   // green
	color.RGBA{204, 121, 167, 255}, // purple
	color.RGBA{86, 180, 233, 255},  // sky
	color.RGBA{213, 94, 0, 255},    // vermilion
}

// Color is the i-th series' colour.
func Color(i int) color.Color { return palette[i%len(palette)] }

// Figure is what every chart has.
type Figure struct {
	Title, Subtitle string // Subtitle: machine and date
	XLabel, YLabel  string
	LegendTopLeft   bool // for Lines; otherwise the legend sits bottom right
	// BarLabel, for Bars, writes each bar's value above it (NaN: none).
	BarLabel func(float64) string
	// XTicks, for Lines, are the only X ticks, labelled with %g.
	XTicks []float64
}

func (f Figure) plot() *plot.Plot {
	p := plot.New()
	p.Title.Text = f.Title
	if f.Subtitle != "" {
		p.Title.Text += "\n" + f.Subtitle
	}
	p.Title.TextStyle.Font.Size = vg.Points(12)
	p.X.Label.Text, p.Y.Label.Text = f.XLabel, f.YLabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	return p
}

// Bars draws grouped bars: groups along X, one bar per series in each.
func Bars(path string, f Figure, groups []string, series []Series) error {
	if len(groups) == 0 || len(series) == 0 {
		return ErrEmpty
	}
	p := f.plot()
	w := vg.Points(math.Min(40, 300/float64(len(groups)*len(series))))
	top := 0.0
	for i, s := range series {
		vals := make(plotter.Values, len(groups))
		for j := range groups {
			if j < len(s.Values) && !math.IsNaN(s.Values[j]) {
				vals[j] = s.Values[j]
				top = math.Max(top, vals[j])
			}
		}
		b, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return fmt.Errorf("plotting: %s: %w", s.Name, err)
		}
		b.Color = Color(i)
		b.LineStyle.Width = 0
		b.Offset = w * vg.Length(float64(i)-float64(len(series)-1)/2)
		p.Add(b)
		p.Legend.Add(s.Name, b)
		if f.BarLabel != nil {
			if err := addBarLabels(p, f.BarLabel, s.Values, len(groups), b.Offset); err != nil {
				return err
			}
		}
	}
	p.Y.Min, p.Y.Max = 0, top*1.25 // room for the legend
	p.Y.Tick.Marker = plainTicks{}
	p.NominalX(groups...)
	p.X.Min, p.X.Max = -0.5, float64(len(groups))-0.5
	return p.Save(8*vg.Inch, 4.5*vg.Inch, path)
}

func addBarLabels(p *plot.Plot, format func(float64) string, values []float64, groups int, offset vg.Length) error {
	var d plotter.XYLabels
	for j := range min(groups, len(values)) {
		if math.IsNaN(values[j]) {
			continue
		}
		d.XYs = append(d.XYs, plotter.XY{X: float64(j), Y: values[j]})
		d.Labels = append(d.Labels, format(values[j]))
	}
	if len(d.XYs) == 0 {
		return nil
	}
	l, err := plotter.NewLabels(d)
	if err != nil {
		return err
	}
	for i := range l.TextStyle {
		l.TextStyle[i].XAlign = text.XCenter
		l.TextStyle[i].Font.Size = vg.Points(9)
	}
	l.Offset = vg.Point{X: offset, Y: vg.Points(3)}
	p.Add(l)
	return nil
}

// plainTicks are the default ticks labelled without trailing zeros
// ("250000", not "250000.00").
type plainTicks struct{}

func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'f', -1, 64)
		}
	}
	return ticks
}

// Line is one curve.
type Line struct {
	Name string
	X, Y []float64
}

// Lines draws curves; logX puts X on a logarithmic scale (values ≤ 0 are
// dropped there).
func Lines(path string, f Figure, lines []Line, logX bool) error {
	p := f.plot()
	p.Legend.Top, p.Legend.Left = f.LegendTopLeft, f.LegendTopLeft
	drawn := 0
	for i, l := range lines {
		var xys plotter.XYs
		for j := range min(len(l.X), len(l.Y)) {
			if logX && l.X[j] <= 0 {
				continue
			}
			xys = append(xys, plotter.XY{X: l.X[j], Y: l.Y[j]})
		}
		if len(xys) == 0 {
			continue
		}
		ln, err := plotter.NewLine(xys)
		if err != nil {
			return fmt.Errorf("plotting: %s: %w", l.Name, err)
		}
		ln.Color = Color(i)
		ln.Width = vg.Points(2)
		if i >= len(palette) {
			ln.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		}
		p.Add(ln)
		p.Legend.Add(l.Name, ln)
		drawn++
	}
	if drawn == 0 {
		return ErrEmpty
	}
	if len(f.XTicks) > 0 {
		ticks := make(plot.ConstantTicks, len(f.XTicks))
		for i, x := range f.XTicks {
			ticks[i] = plot.Tick{Value: x, Label: fmt.Sprintf("%g", x)}
		}
		p.X.Tick.Marker = ticks
	}
	if logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Legend.ThumbnailWidth = vg.Points(20)
	return p.Save(8*vg.Inch, 4.5*vg.Inch, path)
}
