// Package scripts holds developer scripts (fuzzing, benchmarks, network
// namespace hosts, reference cross-checks). It has no Go code of its own;
// this file only documents the folder.
package scripts
