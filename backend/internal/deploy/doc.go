// Package deploy is TEST-ONLY: it has no code of its own and nothing
// imports it. Its tests check the deployment files at the repository root
// — docker-compose.yml, .env.example, .dockerignore, backend/Dockerfile,
// frontend/Dockerfile and the nginx templates in frontend/nginx/: they load
// the compose file with compose-go (as `docker compose` does), check the
// wiring between the services against the BFF's own configuration rules,
// parse the Dockerfiles, and run the real nginx on the rendered templates
// (`nginx -t`, then real requests), so that a broken deployment fails
// `go test` instead of a first `docker compose up`.
package deploy
