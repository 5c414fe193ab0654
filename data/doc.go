// Package data provides the input batches that zerocost feeds to a model:
// random normal values, all ones, NumPy .npy files and CIFAR-10 binary
// files, with labels from the data, a .npy file or a seeded draw, and the
// shape notation ("3x32x32") of the command line and manifests.
//
// It knows a model only through its inputs (onnximport.Input): the batch
// shape is resolved from the declared dimensions and the options.
package data
