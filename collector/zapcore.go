package collector

import "go.uber.org/zap/zapcore"

type zapCore = zapcore.Core

// nopCore discards every log entry; validation runs should not print the
// collector's start-up chatter.
type nopCore struct{}

func (nopCore) Enabled(zapcore.Level) bool                                            { return false }
func (c nopCore) With([]zapcore.Field) zapcore.Core                                   { return c }
func (nopCore) Check(_ zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry { return ce }
func (nopCore) Write(zapcore.Entry, []zapcore.Field) error                            { return nil }
func (nopCore) Sync() error                                                           { return nil }
