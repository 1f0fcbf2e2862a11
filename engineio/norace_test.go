//go:build !race

package engineio

// raceEnabled is set when the tests run with the race detector.
const raceEnabled = false
