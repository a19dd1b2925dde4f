// Package logtoit holds integration tests only (no code for the product):
// `bff logto setup` / `bff logto doctor` and the BFF's own flows, run
// against a real Logto 1.37.1 on loopback (shared/reallogto) with its real
// Discord connector and a fake Discord.
//
// They are opt-in: `make test-logto`, or
//
//	LOGTO_IT_DIR=/work/logto go test -count=1 ./backend/internal/logtoit/
//
// where LOGTO_IT_DIR is the reallogto directory (reset.sh, logto.env,
// pki/ca.crt). Without it the test skips with one line saying so. The
// tests reset that Logto's tenant (reset.sh bare): never point them at a
// Logto that holds anything you want to keep.
package logtoit
