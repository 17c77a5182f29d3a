package fetch

import (
	"fmt"
	"strconv"
	"strings"
)

func fmtSscan(s string, v *int) (int, error) { return fmt.Sscan(s, v) }
func itoa(n int) string                      { return strconv.Itoa(n) }
func padRight(s string, n int) string        { return s + strings.Repeat(" ", n-len(s)) }
