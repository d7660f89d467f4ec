// Package plan is the pure core of orchestration: decomposition of an order
// into fulfillment lines, planning of steps and dependencies, forecasting
// and plan health. Functions of the catalog and their input only.
package plan
