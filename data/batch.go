package data

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"

	"github.com/zerocost/zerocost/onnximport"
	"github.com/zerocost/zerocost/runtime"
)

// Batch is a minibatch for scoring: an input tensor and, when the data come
// with them, labels. A model with several inputs has its main input
// (MainInput) in Input and the others in Others.
type Batch struct {
	Input  *runtime.Tensor
	Labels []int64 // nil when the data have none
	// LabelShape is the shape of Labels when they are not one per sample
	// (N×H×W per pixel, N×T per token); nil means [N].
	LabelShape []int64
	// Notes say how the data were fitted to the model (a transposed
	// layout), for the scoring result.
	Notes []string
	// Name is the model input that Input feeds; "" means the model's only
	// input (or its main one).
	Name string
	// Others are the model's other inputs by name (nil for a model with
	// one input).
	Others map[string]*runtime.Tensor
}

// Size returns the number of samples: axis 0 of Input (1 for a 0-d input).
func (b *Batch) Size() int {
	if b.Input == nil || len(b.Input.Shape) == 0 {
		return 1
	}
	return int(b.Input.Shape[0])
}

// Feeds returns every input tensor by name, Input under main (the name of
// the model's main input when Name is "").
func (b *Batch) Feeds(main string) map[string]*runtime.Tensor {
	if b.Name != "" {
		main = b.Name
	}
	out := map[string]*runtime.Tensor{main: b.Input}
	for k, v := range b.Others {
		out[k] = v
	}
	return out
}

// readLabels reads int64 labels from a .npy file: one per sample, or any
// shape whose first axis is the batch (N×H×W per pixel, N×T per token).
func (b *Batch) readLabels(path string, limit int64) error {
	shape, _, ints, err := readNPY(path, limit)
	if err != nil {
		return err
	}
	if ints == nil || len(shape) == 0 {
		return fmt.Errorf("data: %s must hold an int64 array of labels (N, or N×H×W, N×T)", path)
	}
	if shape[0] != int64(b.Size()) {
		return fmt.Errorf("data: %s holds %d labels for a batch of %d (shape %v: the first axis is the batch)", path, shape[0], b.Size(), shape)
	}
	b.Labels, b.LabelShape = ints, nil
	if len(shape) > 1 {
		b.LabelShape = shape
	}
	return nil
}

// Ones returns a float32 tensor of ones.
func Ones(shape []int64) *runtime.Tensor {
	data := make([]float32, runtime.NumElements(shape))
	for i := range data {
		data[i] = 1
	}
	return runtime.NewFloat32(shape, data)
}

// RandomLabels returns n labels drawn uniformly from 0..classes-1.
func RandomLabels(n int, classes int64, seed uint64) []int64 {
	rng := rand.New(rand.NewPCG(seed, 0x6c6162656c73))
	out := make([]int64, n)
	for i := range out {
		out[i] = rng.Int64N(classes)
	}
	return out
}

// CIFAR-10 normalisation used by the NAS literature.
var (
	CIFARMean = [3]float32{0.4914, 0.4822, 0.4465}
	CIFARStd  = [3]float32{0.2023, 0.1994, 0.2010}
)

const cifarRecord = 1 + 3*32*32

// ReadCIFAR10 reads n images (and labels) from a CIFAR-10 binary file
// (data_batch_N.bin format: 1 label byte + 3072 pixel bytes per record),
// normalised with CIFARMean and CIFARStd, as an n×3×32×32 batch. With
// sample true the n records are drawn without replacement with seed;
// otherwise the first n are taken.
func ReadCIFAR10(path string, n int, sample bool, seed uint64) (*Batch, error) {
	return readCIFAR10(path, n, sample, seed, 0)
}

// readCIFAR10 is ReadCIFAR10 under a memory limit (see DataSpec.MaxMemory).
func readCIFAR10(path string, n int, sample bool, seed uint64, limit int64) (*Batch, error) {
	// The file, and n normalised images of at most 4 bytes per byte read.
	data, err := readFileWithin(path, limit, 5, "CIFAR-10 file")
	if err != nil {
		return nil, err
	}
	return DecodeCIFAR10(data, path, n, sample, seed)
}

// DecodeCIFAR10 is ReadCIFAR10 on the bytes of a CIFAR-10 binary file;
// path names them in errors.
func DecodeCIFAR10(data []byte, path string, n int, sample bool, seed uint64) (*Batch, error) {
	if len(data) == 0 || len(data)%cifarRecord != 0 {
		return nil, fmt.Errorf("data: %s is not a CIFAR-10 binary file: %d bytes is not a multiple of the %d-byte record", path, len(data), cifarRecord)
	}
	records := len(data) / cifarRecord
	if n <= 0 || n > records {
		return nil, fmt.Errorf("data: %s holds %d images; asked for %d", path, records, n)
	}
	idx := make([]int, records)
	for i := range idx {
		idx[i] = i
	}
	if sample {
		rng := rand.New(rand.NewPCG(seed, 0x63696661))
		rng.Shuffle(records, func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
	}
	pixels := make([]float32, n*3*32*32)
	labels := make([]int64, n)
	for k := 0; k < n; k++ {
		rec := data[idx[k]*cifarRecord : (idx[k]+1)*cifarRecord]
		if rec[0] > 9 {
			return nil, fmt.Errorf("data: %s: record %d has label %d, not 0..9: not a CIFAR-10 file", path, idx[k], rec[0])
		}
		labels[k] = int64(rec[0])
		for c := 0; c < 3; c++ {
			for p := 0; p < 1024; p++ {
				v := float32(rec[1+c*1024+p]) / 255
				pixels[(k*3+c)*1024+p] = (v - CIFARMean[c]) / CIFARStd[c]
			}
		}
	}
	return &Batch{Input: runtime.NewFloat32([]int64{int64(n), 3, 32, 32}, pixels), Labels: labels}, nil
}

var npyHeader = regexp.MustCompile(`'descr':\s*'([^']*)'.*'fortran_order':\s*(True|False).*'shape':\s*\(([^)]*)\)`)

// ReadNPY reads a NumPy .npy file holding float32, float64 (converted to
// float32), int64, int32, bool or uint8 values in C order, and returns its
// shape and values (floats as float32, integers and bools as int64).
func ReadNPY(path string) (shape []int64, floats []float32, ints []int64, err error) {
	return readNPY(path, 0)
}

// readNPY is ReadNPY under a memory limit (see DataSpec.MaxMemory).
func readNPY(path string, limit int64) (shape []int64, floats []float32, ints []int64, err error) {
	// The file, and its values decoded: float64 files take 1.5 times their
	// size again (the float64 values and their float32 copy).
	data, err := readFileWithin(path, limit, 3, ".npy file")
	if err != nil {
		return nil, nil, nil, err
	}
	return DecodeNPY(data, path)
}

// DecodeNPY is ReadNPY on the bytes of a .npy file; path names them in
// errors. It allocates no more than the bytes hold.
func DecodeNPY(data []byte, path string) (shape []int64, floats []float32, ints []int64, err error) {
	r := bytes.NewReader(data)
	magic := make([]byte, 8)
	if _, err := io.ReadFull(r, magic); err != nil || string(magic[:6]) != "\x93NUMPY" {
		return nil, nil, nil, fmt.Errorf("data: %s is not a .npy file", path)
	}
	var hlen int
	if magic[6] < 1 || magic[6] > 3 {
		return nil, nil, nil, fmt.Errorf("data: %s is a .npy file of format version %d; zerocost reads versions 1 to 3", path, magic[6])
	}
	if magic[6] == 1 {
		var l uint16
		err = binary.Read(r, binary.LittleEndian, &l)
		hlen = int(l)
	} else {
		var l uint32
		err = binary.Read(r, binary.LittleEndian, &l)
		hlen = int(l)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("data: %s: truncated header", path)
	}
	if hlen > r.Len() {
		return nil, nil, nil, fmt.Errorf("data: %s: truncated header", path)
	}
	header := make([]byte, hlen)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, nil, nil, fmt.Errorf("data: %s: truncated header", path)
	}
	mt := npyHeader.FindStringSubmatch(string(header))
	if mt == nil {
		return nil, nil, nil, fmt.Errorf("data: %s: cannot read the .npy header %q", path, strings.TrimSpace(string(header)))
	}
	if mt[2] == "True" {
		return nil, nil, nil, fmt.Errorf("data: %s is in Fortran order; save it with numpy.ascontiguousarray", path)
	}
	for _, part := range strings.Split(mt[3], ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		d, err := strconv.ParseInt(part, 10, 64)
		if err != nil || d < 0 {
			return nil, nil, nil, fmt.Errorf("data: %s: bad shape %q", path, mt[3])
		}
		shape = append(shape, d)
	}
	n := runtime.NumElements(shape)
	if size := npyElemSize[mt[1]]; size > 0 && runtime.ShapeBytes(shape, size) > int64(r.Len()) {
		return nil, nil, nil, fmt.Errorf("data: %s is truncated: shape %v of %s needs %s, the file holds %s after its header", path, shape, mt[1], runtime.FormatBytes(runtime.ShapeBytes(shape, size)), runtime.FormatBytes(int64(r.Len())))
	}
	switch mt[1] {
	case "<f4":
		floats, err = readAs[float32, float32](r, n)
	case "<f8":
		floats, err = readAs[float64, float32](r, n)
	case "<i8":
		ints, err = readAs[int64, int64](r, n)
	case "<i4":
		ints, err = readAs[int32, int64](r, n)
	case "|b1", "|u1":
		ints, err = readAs[uint8, int64](r, n)
	default:
		return nil, nil, nil, fmt.Errorf("data: %s holds %s values; use float32, float64, int64, int32, bool or uint8", path, mt[1])
	}
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, nil, nil, fmt.Errorf("data: %s is truncated: shape %v needs more data", path, shape)
		}
		return nil, nil, nil, fmt.Errorf("data: %s: %w", path, err)
	}
	for _, v := range floats {
		if math.IsNaN(float64(v)) {
			return nil, nil, nil, fmt.Errorf("data: %s holds NaN values", path)
		}
	}
	return shape, floats, ints, nil
}

// readAs reads n little-endian values of type F and converts them to T.
func readAs[F, T int64 | int32 | uint8 | float32 | float64](r io.Reader, n int) ([]T, error) {
	v := make([]F, n)
	if err := binary.Read(r, binary.LittleEndian, v); err != nil {
		return nil, err
	}
	if same, ok := any(v).([]T); ok {
		return same, nil // no conversion: no copy
	}
	out := make([]T, n)
	for i, x := range v {
		out[i] = T(x)
	}
	return out, nil
}

// DataSpec says where a scoring batch comes from.
type DataSpec struct {
	// Source is "random" (standard normal, the default), "ones", a .npy
	// file or a CIFAR-10 binary file (.bin).
	Source string
	// Labels is an optional .npy file of int64 labels.
	Labels string
	// BatchSize is the number of samples (default 64); a .npy file gives
	// its own.
	BatchSize int
	// Shape is the shape of one sample (C×H×W) or of the whole batch, for
	// models with dynamic sizes.
	Shape []int64
	Seed  uint64
	// Sample draws CIFAR-10 records with Seed instead of taking the first ones.
	Sample bool
	// Layout of an image input: "" detects it from the declared shape
	// (DetectLayout). Channels-first images (CIFAR-10, N×C×H×W .npy files)
	// are transposed for a channels-last input.
	Layout Layout
	// MaxMemory limits the bytes the batch may take, as
	// runtime.SessionOptions.MaxMemory (0: runtime.DefaultMemoryLimit,
	// negative: no limit). It is not a scoring setting: results do not
	// depend on it.
	MaxMemory int64 `json:"-"`
	// Inputs specify inputs one by one, for models with several inputs or
	// non-float ones (LoadInputs); the fields above fill the main input.
	Inputs []InputSpec `json:",omitempty"`
	// Vocab is the number of token ids for integer inputs whose embedding
	// table zerocost cannot find (0: none).
	Vocab int64 `json:",omitempty"`
}

// LoadBatch builds the scoring batch for a model input.
func LoadBatch(spec DataSpec, in onnximport.Input) (*Batch, error) {
	n := spec.BatchSize
	if n <= 0 {
		n = 64
	}
	var b *Batch
	switch src := spec.Source; {
	case src == "" || src == "random" || src == "ones":
		if len(in.Dims) > 0 && in.Dims[0] >= 1 {
			// A static batch is the exporter's example input, not a
			// property of the network: proxies.Score makes it dynamic
			// when the graph allows it.
			in.Dims = append([]int64{-1}, in.Dims[1:]...)
		}
		shape, note := channelsLastShape(spec.Shape, in, spec.Layout)
		dims, err := in.ResolveShape(shape, int64(n))
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		if err := checkBatchMemory(in, dims, spec.MaxMemory); err != nil {
			return nil, err
		}
		if src == "ones" {
			b = &Batch{Input: Ones(dims)}
		} else {
			b = &Batch{Input: RandomNormal(dims, spec.Seed)}
		}
		if note != "" {
			b.Notes = append(b.Notes, note)
		}
	case strings.HasSuffix(src, ".npy"):
		shape, floats, _, err := readNPY(src, spec.MaxMemory)
		if err != nil {
			return nil, err
		}
		if floats == nil {
			return nil, fmt.Errorf("data: %s holds integers; the input batch must be float", src)
		}
		b = &Batch{Input: runtime.NewFloat32(shape, floats)}
		matchLayout(b, in, spec.Layout, src)
	case strings.HasSuffix(src, ".bin"):
		var err error
		if b, err = readCIFAR10(src, n, spec.Sample, spec.Seed, spec.MaxMemory); err != nil {
			return nil, err
		}
		matchLayout(b, in, spec.Layout, src)
	default:
		return nil, fmt.Errorf("data: unknown data source %q: use random, ones, a .npy file or a CIFAR-10 .bin file", src)
	}
	if spec.Labels != "" {
		if err := b.readLabels(spec.Labels, spec.MaxMemory); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// ParseShape parses a shape written as sizes joined by x ("3x32x32" or
// "1x3x32x32"); "" is no shape. (onnximport.ParseShape: the one parser,
// shared with the models' recorded input size.)
func ParseShape(s string) ([]int64, error) { return onnximport.ParseShape(s) }
