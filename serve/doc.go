// Package serve provides zerocost's HTTP JSON service (zerocost serve):
// model selection pipelines send models and get their zero-cost proxies
// back, or start rank jobs over collections and poll them.
//
// Routes:
//
//	POST   /v1/score      one model (the body, or a multipart file part) → the
//	                      object `zerocost score --format json` prints
//	POST   /v1/rank       paths under the server's root, nb201: sources or
//	                      uploaded models → 202 and a job id
//	GET    /v1/jobs/{id}  the job's status, progress and results so far
//	DELETE /v1/jobs/{id}  cancels the job
//	GET    /healthz       liveness (no token needed)
//	GET    /metrics       Prometheus text: requests, queue, models, seconds per proxy
//
// Options are the score command's flags without their dashes (proxies,
// batch-size, input-shape, …), given in the query, as multipart fields or
// as a JSON object; proxies.Request reads them for both, so the service and
// the command line accept and refuse the same settings.
//
// Score requests wait in a bounded queue (429 with Retry-After when it is
// full) for one of Config.Workers workers, within a time limit from their
// arrival; bodies are limited in size; a bearer token may be required.
// Rank jobs run one at a time through ranking.Run and are journaled under
// Config.StateDir (the request, uploaded models, and the results appended
// per model), so that a server stopped by Serve's graceful shutdown, or
// killed, resumes them when it starts again on the same folder.
//
// The routes use net/http's ServeMux patterns ("POST /v1/score",
// "GET /v1/jobs/{id}"): six routes with one path parameter need no router
// dependency.
package serve
