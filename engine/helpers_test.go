package engine_test

import "github.com/zerocost/zerocost/runtime"

func runtimeOptions() runtime.SessionOptions { return runtime.SessionOptions{} }
