"""ARTAgent call history in Azure Cosmos DB for NoSQL: the ``cosmos`` store."""
