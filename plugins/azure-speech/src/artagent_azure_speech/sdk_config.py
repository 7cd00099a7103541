"""The plugin's settings turned into the Speech SDK's SpeechConfig objects.

Kept apart from the recogniser and synthesizer so the mapping can be checked on its own: what
the SDK ends up with (its properties) is what it sends to the service.
"""

from __future__ import annotations

import azure.cognitiveservices.speech as speechsdk

from artagent_azure_speech.config import AzureSpeechConfig

__all__ = [
    "OUTPUT_FORMATS",
    "LanguageMismatchError",
    "recognition_config",
    "recognition_languages",
    "speech_config",
    "synthesis_config",
]

OUTPUT_FORMATS: dict[int, speechsdk.SpeechSynthesisOutputFormat] = {
    8000: speechsdk.SpeechSynthesisOutputFormat.Raw8Khz16BitMonoPcm,
    16000: speechsdk.SpeechSynthesisOutputFormat.Raw16Khz16BitMonoPcm,
    22050: speechsdk.SpeechSynthesisOutputFormat.Raw22050Hz16BitMonoPcm,
    24000: speechsdk.SpeechSynthesisOutputFormat.Raw24Khz16BitMonoPcm,
    44100: speechsdk.SpeechSynthesisOutputFormat.Raw44100Hz16BitMonoPcm,
    48000: speechsdk.SpeechSynthesisOutputFormat.Raw48Khz16BitMonoPcm,
}


class LanguageMismatchError(ValueError):
    """The session asked for a language the plugin's configured locales do not offer."""


def speech_config(cfg: AzureSpeechConfig, *, key: str | None, token: str | None) -> speechsdk.SpeechConfig:
    """Where to connect and how to authenticate: a key, or an Entra ID authorization token."""
    if cfg.host:
        config = speechsdk.SpeechConfig(host=cfg.host, subscription=key)
    elif cfg.endpoint:
        config = speechsdk.SpeechConfig(endpoint=cfg.endpoint, subscription=key)
    elif key is not None:
        config = speechsdk.SpeechConfig(subscription=key, region=cfg.region)
    else:
        return speechsdk.SpeechConfig(auth_token=token or "", region=cfg.region)
    if token is not None:  # the SDK refuses a token with endpoint or host in its constructor
        config.authorization_token = token
    return config


def recognition_languages(cfg: AzureSpeechConfig, session_language: str | None) -> list[str]:
    """The locales to recognise: the configured ones, narrowed to the session's language.

    ``session_language`` is ``[session] language`` ("en" or "en-GB"); the configured locales
    that match it are kept. A full locale matching none is used as is; a bare language code
    matching none is an error, since Azure needs a locale.
    """
    if not session_language:
        return list(cfg.languages)
    wanted = session_language.lower()
    matching = [
        lang for lang in cfg.languages if lang.lower() == wanted or lang.lower().startswith(wanted + "-")
    ]
    if matching:
        return matching
    if "-" in wanted:
        return [session_language]
    raise LanguageMismatchError(
        f"session.language {session_language!r} matches none of plugins.azure_speech.languages "
        f"({', '.join(cfg.languages)}); name a locale such as en-US"
    )


def recognition_config(
    cfg: AzureSpeechConfig, languages: list[str], *, key: str | None, token: str | None
) -> tuple[speechsdk.SpeechConfig, speechsdk.languageconfig.AutoDetectSourceLanguageConfig | None]:
    """The recogniser's SpeechConfig, plus language identification when several locales apply."""
    config = speech_config(cfg, key=key, token=token)
    config.output_format = speechsdk.OutputFormat.Detailed  # carries each result's confidence
    if cfg.segmentation_silence_ms is not None:
        config.set_property(
            speechsdk.PropertyId.Speech_SegmentationSilenceTimeoutMs, str(cfg.segmentation_silence_ms)
        )
    if len(languages) == 1:
        config.speech_recognition_language = languages[0]
        return config, None
    config.set_property(speechsdk.PropertyId.SpeechServiceConnection_LanguageIdMode, "Continuous")
    return config, speechsdk.languageconfig.AutoDetectSourceLanguageConfig(languages=languages)


def synthesis_config(cfg: AzureSpeechConfig, *, key: str | None, token: str | None) -> speechsdk.SpeechConfig:
    """The synthesizer's SpeechConfig: raw PCM at the configured rate, the default voice."""
    config = speech_config(cfg, key=key, token=token)
    config.set_speech_synthesis_output_format(OUTPUT_FORMATS[cfg.output_rate])
    config.speech_synthesis_voice_name = cfg.voice
    return config
