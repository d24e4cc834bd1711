//go:build race

package main

// raceEnabled: timings measure the race detector, not kmipd.
const raceEnabled = true
