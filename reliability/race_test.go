//go:build race

package reliability

// raceEnabled reports whether the tests run with the race detector.
const raceEnabled = true
