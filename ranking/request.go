package ranking

import (
	"strings"

	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/runtime"
	"github.com/zerocost/zerocost/zoo"
)

// RequestOptions returns the options that rank a collection with the
// settings of req (the rank command's flags, the service's rank jobs) and
// the session settings given; Workers, Results and Progress are left to
// the caller. Errors in the settings are *proxies.SettingsError.
func RequestOptions(req *proxies.Request, session runtime.SessionOptions) (Options, error) {
	names, err := req.ProxyNames()
	if err != nil {
		return Options{}, err
	}
	bn, err := req.BNMode()
	if err != nil {
		return Options{}, err
	}
	spec, err := req.DataSpec()
	if err != nil {
		return Options{}, err
	}
	opts := Options{Proxies: names, Data: spec}
	opts.Score.Session = session
	opts.Score.BN = bn
	opts.Score.PerLayer = req.PerLayer
	opts.Score.Output, opts.Score.Head = req.Output, req.Head
	opts.Score.Repeats = req.Repeats
	return opts, nil
}

// CollectSources lists the models of folders, files, manifests and
// NAS-Bench-201 sources (nb201:…, built in memory when scored; see
// zoo.ParseNB201Source), in the order given: what `zerocost rank PATH…`
// and the service's rank jobs take.
func CollectSources(paths []string) ([]Entry, error) {
	var entries []Entry
	var files []string
	flush := func() error {
		if len(files) == 0 {
			return nil
		}
		es, err := Collect(files)
		entries, files = append(entries, es...), nil
		return err
	}
	for _, p := range paths {
		if !strings.HasPrefix(p, zoo.NB201SourcePrefix) {
			files = append(files, p)
			continue
		}
		if err := flush(); err != nil {
			return nil, err
		}
		src, err := zoo.ParseNB201Source(p)
		if err != nil {
			return nil, err
		}
		es, err := NB201Entries(src)
		if err != nil {
			return nil, err
		}
		entries = append(entries, es...)
	}
	return entries, flush()
}
