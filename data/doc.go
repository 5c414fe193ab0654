// Package data provides the input batches that zerocost feeds to a model:
// random normal values, all ones, NumPy .npy files and CIFAR-10 binary
// files, with labels from the data, a .npy file or a seeded draw, and the
// shape notation ("3x32x32") of the command line and manifests.
//
// Models with several inputs, integer token ids, masks, bool or 0-d inputs
// get one batch for all of them from LoadInputs, input by input as
// InputSpec (the --input flag) says or by the defaults of each kind.
//
// It knows a model only through its inputs (onnximport.Input) and the
// sizes of the embedding tables they index (onnximport.Embedding): the
// batch shape is resolved from the declared dimensions and the options.
package data
