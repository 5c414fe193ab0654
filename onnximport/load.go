package onnximport

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

// ErrNotONNX is returned (wrapped) for input that is not an ONNX model at all.
var ErrNotONNX = errors.New("onnximport: not an ONNX model")

// Model is a parsed ONNX model. Path is the file it came from ("" for bytes).
type Model struct {
	Proto *onnx.ModelProto
	Path  string
	// Notes are facts about how the model was read that a user should know
	// when reading its scores: an upgraded opset, a converted precision.
	// Every step that changes the model on load appends one sentence.
	Notes []string
}

// Note appends a note (see Model.Notes), once.
func (m *Model) Note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	for _, n := range m.Notes {
		if n == s {
			return
		}
	}
	m.Notes = append(m.Notes, s)
}

// Graph returns the model's main graph.
func (m *Model) Graph() *onnx.GraphProto { return m.Proto.GetGraph() }

// Name returns the file path, or "model" when the model came from bytes.
func (m *Model) Name() string {
	if m.Path == "" {
		return "model"
	}
	return m.Path
}

// Load reads and checks the ONNX model in path. Initializers stored as
// external data are read from files next to path and made inline. A model
// of ai.onnx opset 7 to 16 is upgraded to opset 17 (see UpgradeOpset).
func Load(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("onnximport: %s: no such file; check the path", path)
		}
		return nil, fmt.Errorf("onnximport: %w", err)
	}
	m, err := parse(data, path, filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Parse reads and checks an ONNX model held in data. baseDir is the folder
// that external-data locations are relative to ("" when the model has none).
// A model of ai.onnx opset 7 to 16 is upgraded to opset 17 (see UpgradeOpset).
func Parse(data []byte, baseDir string) (*Model, error) {
	return parse(data, "", baseDir)
}

// ParseFile is Load on bytes already read from path: errors and
// Model.Path name path, and external data are read from its folder.
func ParseFile(data []byte, path string) (*Model, error) {
	return parse(data, path, filepath.Dir(path))
}

func parse(data []byte, path, baseDir string) (*Model, error) {
	name := path
	if name == "" {
		name = "model bytes"
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: %s is empty", ErrNotONNX, name)
	}
	mp := &onnx.ModelProto{}
	if err := proto.Unmarshal(data, mp); err != nil {
		return nil, fmt.Errorf("%w: %s cannot be decoded (%v); the file is corrupt, truncated or of another format: re-export it", ErrNotONNX, name, err)
	}
	if mp.GetGraph() == nil || len(mp.GetGraph().GetNode()) == 0 || mp.GetIrVersion() == 0 {
		return nil, fmt.Errorf("%w: %s has no graph or IR version; the file is corrupt, truncated or of another format: re-export it", ErrNotONNX, name)
	}
	m := &Model{Proto: mp, Path: path}
	if err := m.inlineExternalData(baseDir); err != nil {
		return nil, err
	}
	if err := m.Check(); err != nil {
		return nil, err
	}
	// Half precision first, so that the conversions of old operators below
	// see (and create) float32 tensors only.
	if _, err := m.ToFloat32(); err != nil {
		return nil, err
	}
	// Opsets 7 to 16 are read as opset 17 (an older one is left for the
	// caller to refuse: it may only want the layer table).
	if v := m.Opset(); v >= MinUpgradeOpset && v < UpgradeTarget {
		if err := m.UpgradeOpset(UpgradeTarget); err != nil {
			return nil, err
		}
		if err := m.Check(); err != nil {
			return nil, fmt.Errorf("%w (after upgrading the opset: a zerocost bug, please report it)", err)
		}
	}
	return m, nil
}

// Marshal encodes the model as ONNX bytes.
func (m *Model) Marshal() ([]byte, error) {
	b, err := proto.Marshal(m.Proto)
	if err != nil {
		return nil, fmt.Errorf("onnximport: encoding %s: %w", m.Name(), err)
	}
	return b, nil
}

// Clone returns a deep copy of m.
func (m *Model) Clone() *Model {
	return &Model{Proto: proto.Clone(m.Proto).(*onnx.ModelProto), Path: m.Path, Notes: append([]string(nil), m.Notes...)}
}

// inlineExternalData reads every initializer stored as external data into raw_data.
func (m *Model) inlineExternalData(baseDir string) error {
	for _, t := range m.Graph().GetInitializer() {
		if t.GetDataLocation() != onnx.TensorProto_EXTERNAL {
			continue
		}
		info := map[string]string{}
		for _, e := range t.GetExternalData() {
			info[e.GetKey()] = e.GetValue()
		}
		loc := info["location"]
		if loc == "" {
			return fmt.Errorf("onnximport: %s: initializer %q is stored externally but names no location", m.Name(), t.GetName())
		}
		if filepath.IsAbs(loc) || !filepath.IsLocal(loc) {
			return fmt.Errorf("onnximport: %s: initializer %q names external file %q outside the model's folder; only relative paths below it are read", m.Name(), t.GetName(), loc)
		}
		file := filepath.Join(baseDir, loc)
		offset, err := parseExternalInt(info, "offset", 0)
		if err != nil {
			return fmt.Errorf("onnximport: %s: initializer %q: %w", m.Name(), t.GetName(), err)
		}
		length, err := parseExternalInt(info, "length", -1)
		if err != nil {
			return fmt.Errorf("onnximport: %s: initializer %q: %w", m.Name(), t.GetName(), err)
		}
		data, err := readRange(file, offset, length)
		if err != nil {
			return fmt.Errorf("onnximport: %s: initializer %q: external data: %w; keep the data file next to the model", m.Name(), t.GetName(), err)
		}
		if want, known := tensorBytes(t); known && int64(len(data)) != want {
			return fmt.Errorf("onnximport: %s: initializer %q: external data in %s has %d bytes, shape %v needs %s", m.Name(), t.GetName(), loc, len(data), t.GetDims(), fmtBytes(want))
		}
		t.RawData = data
		t.ExternalData = nil
		t.DataLocation = onnx.TensorProto_DEFAULT
	}
	return nil
}

func parseExternalInt(info map[string]string, key string, def int64) (int64, error) {
	s, ok := info[key]
	if !ok {
		return def, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad external-data %s %q", key, s)
	}
	return v, nil
}

func readRange(file string, offset, length int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if offset > st.Size() {
		return nil, fmt.Errorf("%s has %d bytes, fewer than the offset %d (truncated?)", file, st.Size(), offset)
	}
	if length < 0 {
		length = st.Size() - offset
	}
	if length > st.Size()-offset {
		return nil, fmt.Errorf("%s has %d bytes, needs %d at offset %d (truncated?)", file, st.Size(), length, offset)
	}
	buf := make([]byte, length)
	if _, err := f.ReadAt(buf, offset); err != nil {
		return nil, err
	}
	return buf, nil
}
