package httpapi

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// healthz handles GET /healthz: the process answers.
func (s *server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readiness is GET /readyz's body.
type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// readyz handles GET /readyz: 200 once Logto has been discovered and the
// session store answers, 503 otherwise.
func (s *server) readyz(c *gin.Context) {
	checks := map[string]string{"idp": "ok", "store": "ok"}
	if _, err := s.auth.Client(); err != nil {
		checks["idp"] = "unavailable"
	}
	ctx, cancel := contextWithTimeout(c, 2*time.Second)
	defer cancel()
	if err := s.sessions.Ping(ctx); err != nil {
		checks["store"] = "unavailable"
	}
	if checks["idp"] != "ok" || checks["store"] != "ok" {
		c.JSON(http.StatusServiceUnavailable, readiness{Status: "unavailable", Checks: checks})
		return
	}
	c.JSON(http.StatusOK, readiness{Status: "ready", Checks: checks})
}
