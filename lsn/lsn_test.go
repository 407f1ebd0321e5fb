package lsn

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLSNString(t *testing.T) {
	for l, want := range map[LSN]string{0: "0", 1: "1", 18233: "18233", 1<<64 - 1: "18446744073709551615"} {
		assert.Equal(t, want, l.String())
	}
}
