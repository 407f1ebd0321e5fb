//go:build !race

package e2e

// raceBuild is true when the tests themselves run under the race detector:
// then the daemon is built with -race as well (see buildBinaries).
const raceBuild = false
