// Package suggest finds the "did you mean" candidate for a misspelt name
// (an unknown op field, type, tenant). It is not a spelling corrector: it
// names one near candidate or none.
package suggest

import "strings"

// Closest returns the candidate nearest to name, compared without case: one
// at most two edits away, and with fewer than half as many edits as name
// has letters (so that short names do not match everything); "" when none
// is.
func Closest(name string, candidates []string) string {
	best, bestD := "", 3
	lower := strings.ToLower(name)
	for _, c := range candidates {
		if d := editDistance(lower, strings.ToLower(c)); d < bestD && 2*d < len(name) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
