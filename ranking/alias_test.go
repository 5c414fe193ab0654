package ranking_test

import "github.com/zerocost/zerocost/proxies"

type proxiesResult = proxies.ProxyResult
