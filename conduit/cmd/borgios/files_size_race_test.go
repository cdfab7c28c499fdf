//go:build race

package main

// filesTestBytes is the upload of the files process test; the CLI binary
// is not built with -race, but this test process and its neighbours are.
const filesTestBytes = 12 << 20
