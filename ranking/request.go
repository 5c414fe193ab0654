package ranking

import (
	"github.com/zerocost/zerocost/proxies"
	"github.com/zerocost/zerocost/runtime"
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
	return opts, nil
}
