# Server integration tests (owner: server).
