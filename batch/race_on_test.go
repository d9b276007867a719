//go:build race

package batch

// raceEnabled: the race detector makes the library's phone parsing ~30x
// slower, so exhaustive comparisons sample under it.
const raceEnabled = true
