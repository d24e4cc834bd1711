//go:build cgo && race

package pkcs11

const raceEnabled = true
