"""The Kinvey domain: entities, users, groups, roles, sessions, access rules, mail."""
