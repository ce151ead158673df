"""Platform assets: facts about tenants themselves rather than about a source system."""
