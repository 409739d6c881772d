package idol

import "spacenet/internal/suggest"

// Suggest returns the candidate closest to name, for a "did you mean"
// hint (see suggest.Closest); "" when none is near.
func Suggest(name string, candidates []string) string {
	return suggest.Closest(name, candidates)
}
