// Package ent holds Baton's storage schema (ent/schema) and the code ent and
// entgql generate from it. Run `go generate ./...` from the repository root
// (ent runs before graph, which needs graph/ent.graphqls); never edit
// generated files by hand.
package ent

//go:generate go run -mod=mod ./entc.go
