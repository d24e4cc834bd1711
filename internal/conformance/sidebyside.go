package conformance

import (
	"strings"
)

// SideBySide lays out two texts in columns headed by their titles: the
// left column width characters wide (longer lines are cut with "…"), a
// marker between the columns where the lines differ.
func SideBySide(leftTitle, left, rightTitle, right string, width int) string {
	l, r := strings.Split(left, "\n"), strings.Split(right, "\n")
	cut := func(s string) string {
		if n := len([]rune(s)); n > width {
			return string([]rune(s)[:width-1]) + "…"
		}
		return s
	}
	pad := func(s string) string {
		return s + strings.Repeat(" ", max(0, width-len([]rune(s))))
	}
	var b strings.Builder
	b.WriteString(pad(leftTitle) + "   " + rightTitle + "\n")
	for i := range max(len(l), len(r)) {
		var x, y string
		if i < len(l) {
			x = l[i]
		}
		if i < len(r) {
			y = r[i]
		}
		mark := " | "
		if strings.TrimSpace(x) != strings.TrimSpace(y) {
			mark = " ! "
		}
		b.WriteString(strings.TrimRight(pad(cut(x))+mark+cut(y), " "))
		if i < max(len(l), len(r))-1 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}
