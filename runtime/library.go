package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// WantVersion is the ONNX Runtime version zerocost is built and tested against.
// github.com/yalue/onnxruntime_go v1.27.0 is written against its C API.
const WantVersion = "1.24.1"

// LibraryEnv is the environment variable that names the ONNX Runtime shared library.
const LibraryEnv = "ZEROCOST_ORT_LIB"

// libraryName is the file name of the shared library inside the npm package
// onnxruntime-node@1.24.1 (package/bin/napi-v6/linux/x64/libonnxruntime.so.1).
const libraryName = "libonnxruntime.so.1"

// repoLibraryDir is the git-ignored folder of the repository where
// scripts/setup.sh puts the library.
const repoLibraryDir = ".ort"

// InstallHint is the command that installs the library into the repository.
const InstallHint = "make setup (or scripts/setup.sh) in the zerocost repository"

// ErrLibraryNotFound is returned (wrapped in a *LibraryError) when no candidate
// path holds a loadable ONNX Runtime library.
var ErrLibraryNotFound = errors.New("runtime: ONNX Runtime shared library not found")

// LibraryError lists every path that was tried and why each failed.
type LibraryError struct {
	Tried []Candidate
}

func (e *LibraryError) Error() string {
	var b strings.Builder
	b.WriteString("runtime: cannot load the ONNX Runtime shared library; tried:\n")
	for _, c := range e.Tried {
		fmt.Fprintf(&b, "  %-28s %s: %s\n", c.Source, c.Path, c.Problem)
	}
	fmt.Fprintf(&b, "install ONNX Runtime %s with `%s`, or point --ort-lib or %s at a libonnxruntime.so", WantVersion, InstallHint, LibraryEnv)
	return b.String()
}

func (e *LibraryError) Unwrap() error { return ErrLibraryNotFound }

// Candidate is one place where the library may be.
type Candidate struct {
	Source  string // "--ort-lib flag", "$ZEROCOST_ORT_LIB", "repository", "user cache", "system loader path"
	Path    string
	Problem string // empty until tried; why it could not be used
}

// Candidates returns the places searched for the library, in order: the flag
// value, the ZEROCOST_ORT_LIB environment variable, the repository's .ort
// folder (found by walking up from the working directory and from the
// executable's directory), the user's cache folder, and the system loader path.
func Candidates(flagPath string) []Candidate {
	var cs []Candidate
	if flagPath != "" {
		cs = append(cs, Candidate{Source: "--ort-lib flag", Path: flagPath})
	}
	if p := os.Getenv(LibraryEnv); p != "" {
		cs = append(cs, Candidate{Source: "$" + LibraryEnv, Path: p})
	}
	for _, root := range repositoryRoots() {
		cs = append(cs, Candidate{Source: "repository", Path: filepath.Join(root, repoLibraryDir, libraryName)})
	}
	if dir, err := os.UserCacheDir(); err == nil {
		cs = append(cs, Candidate{Source: "user cache", Path: filepath.Join(dir, "zerocost", "onnxruntime-"+WantVersion, libraryName)})
	}
	cs = append(cs, Candidate{Source: "system loader path", Path: libraryName})
	return cs
}

// RepositoryRoot returns the root of the zerocost repository that holds the
// working directory or the running executable, or "" when there is none.
func RepositoryRoot() string {
	roots := repositoryRoots()
	if len(roots) == 0 {
		return ""
	}
	return roots[0]
}

func repositoryRoots() []string {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	var roots []string
	seen := map[string]bool{}
	for _, dir := range starts {
		for d := dir; ; d = filepath.Dir(d) {
			if isZerocostRoot(d) && !seen[d] {
				seen[d] = true
				roots = append(roots, d)
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return roots
}

func isZerocostRoot(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	return err == nil && strings.HasPrefix(string(b), "module github.com/zerocost/zerocost\n")
}

var (
	initMu      sync.Mutex
	loadedPath  string
	initialised bool
)

// Init loads the ONNX Runtime shared library and creates the process-wide
// environment. flagPath, when not empty, is tried first. Init is safe to call
// many times and from many goroutines: after the first success it does nothing
// (a later call naming a different path gets an error).
func Init(flagPath string) error {
	initMu.Lock()
	defer initMu.Unlock()
	if initialised {
		if flagPath != "" && flagPath != loadedPath {
			return fmt.Errorf("runtime: ONNX Runtime already loaded from %s; cannot switch to %s in the same process", loadedPath, flagPath)
		}
		return nil
	}
	cands := Candidates(flagPath)
	for i := range cands {
		c := &cands[i]
		if strings.ContainsRune(c.Path, os.PathSeparator) {
			if _, err := os.Stat(c.Path); err != nil {
				c.Problem = "no such file"
				if !os.IsNotExist(err) {
					c.Problem = err.Error()
				}
				continue
			}
		}
		ort.SetSharedLibraryPath(c.Path)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			c.Problem = strings.ReplaceAll(err.Error(), "\n", " ")
			continue
		}
		initialised = true
		loadedPath = c.Path
		return nil
	}
	return &LibraryError{Tried: cands}
}

// LoadedLibrary returns the path of the loaded library ("" before Init succeeds).
func LoadedLibrary() string {
	initMu.Lock()
	defer initMu.Unlock()
	return loadedPath
}

// Version returns the version string of the loaded ONNX Runtime library, or ""
// before Init succeeds.
func Version() string {
	initMu.Lock()
	defer initMu.Unlock()
	if !initialised {
		return ""
	}
	return ort.GetVersion()
}
