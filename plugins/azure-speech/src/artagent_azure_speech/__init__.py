"""ARTAgent plugin: Azure AI Speech as the speech-to-text and text-to-speech providers."""
