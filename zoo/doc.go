// Package zoo provides model sources and ground truth for zerocost: networks generated in Go
// (a tiny CNN for smoke tests, and the NAS-Bench-201 space), with weights
// drawn like PyTorch's default initialisation from a seeded generator.
package zoo
