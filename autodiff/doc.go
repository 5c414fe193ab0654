// Package autodiff provides reverse-mode differentiation of ONNX graphs into
// new ONNX graphs built only from standard ai.onnx operators.
//
// Build takes a model and a Request (what to differentiate with respect to,
// the head whose gradient is taken, extra outputs, the BatchNormalization
// mode) and returns a model that computes the forward outputs, the loss and
// the requested gradients in one run of stock ONNX Runtime, with no
// training kernels.
//
// The graph is first normalised (Normalize): Constant weights become
// initializers, BatchNormalization and LayerNormalization are decomposed into
// elementary operators according to the BN mode, Dropout becomes Identity or
// an explicit mask, and MaxPool also returns its indices. Then one gradient
// rule per op type (the registry in registry.go, readable in one place) emits
// the backward nodes. A tensor read by several nodes gets its gradient
// contributions summed by one Sum node; only gradients on a path from a
// requested tensor to the head are emitted; broadcasting is reduced back to
// each input's shape; the batch dimension stays dynamic.
//
// Rules need the shape of every tensor. autodiff does not run models itself:
// the caller supplies Shapes, usually found by running the normalised model
// once at two batch sizes (see package engine), so that dimensions that follow
// the batch are known to be dynamic.
package autodiff
