package control_test

import (
	"fmt"
	"log"
	"os/exec"

	"github.com/rewindfs/rewindfs/control"
)

// A test suite resets its database after every test: mark the clean state
// once, let a test change the database, rewind to the mark. The volume was
// made and mounted beforehand:
//
//	rewindfs init /var/lib/rewindfs/test
//	rewindfs mount /var/lib/rewindfs/test /srv/test
//
// The database runs in another process (here the sqlite3 command line; a
// server would be stopped before the rewind), since a rewind is refused
// while files on the mount are open.
func Example_resetAfterEachTest() {
	const vol = "/var/lib/rewindfs/test"
	const db = "/srv/test/app.db"

	if _, err := control.Mark(vol, "clean"); err != nil {
		log.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		// A test: it changes the database as much as it likes.
		if err := exec.Command("sqlite3", db, "DELETE FROM users").Run(); err != nil {
			log.Fatal(err)
		}
		// Back to the clean state for the next one.
		r, err := control.Rewind(vol, "clean")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("undid %d records, back at LSN %d\n", r.Undone, r.To)
	}
}
