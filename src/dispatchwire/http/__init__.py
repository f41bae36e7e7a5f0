"""HTTP plumbing under the routes: how uvicorn is set up, new connections let in a few per pass
(`admission`), refused requests answered and logged (`errors`), and the fast lane for the
busiest routes (`fastlane`). No domain rule lives here."""
