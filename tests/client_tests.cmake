# Client/tool integration tests (owner: client).
