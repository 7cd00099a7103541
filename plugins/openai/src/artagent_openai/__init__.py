"""ARTAgent model routers: OpenAI, Azure OpenAI and OpenAI-compatible servers (Ollama, vLLM, llama.cpp)."""
