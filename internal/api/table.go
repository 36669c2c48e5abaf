package api

// table lists every route of the API. The mux and the OpenAPI document are
// both built from it, so they cannot disagree.
func (a *API) table() []*route {
	var rs []*route
	rs = append(rs, a.experimentRoutes()...)
	rs = append(rs, a.pipelineRoutes()...)
	rs = append(rs, a.deploymentRoutes()...)
	rs = append(rs, a.agentRoutes()...)
	rs = append(rs, a.hostRoutes()...)
	rs = append(rs, a.keyRoutes()...)
	rs = append(rs, a.settingsRoutes()...)
	return rs
}
