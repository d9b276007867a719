package reports

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Table prints aligned columns: text left, numbers right (columns whose
// header is in right).
type Table struct {
	header []string
	right  map[int]bool
	rows   [][]string
	indent string
}

func NewTable(indent string, header ...string) *Table {
	t := &Table{header: header, right: map[int]bool{}, indent: indent}
	return t
}

// alignRight marks columns (by index) as numeric.
func (t *Table) AlignRight(cols ...int) *Table {
	for _, c := range cols {
		t.right[c] = true
	}
	return t
}

func (t *Table) Add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *Table) Write(w io.Writer) {
	width := make([]int, len(t.header))
	all := append([][]string{t.header}, t.rows...)
	for _, r := range all {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range all {
		var b strings.Builder
		b.WriteString(t.indent)
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if t.right[i] {
				b.WriteString(pad + c)
			} else if i < len(r)-1 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}
