"""Column → Column helpers shared by the Refine transforms, all native Spark expressions.

Nothing here runs Python per row: each helper returns a Spark ``Column`` built from ``F.*``
functions, so the JVM evaluates it (whole-stage code generation, no serialization to Python).

* :func:`is_wmf_hostname` is the reference's WMF-host test (``Webrequest.isWMFHostname``): hosts
  longer than 800 characters are not WMF hosts; the host is lower-cased and stripped of trailing
  dots; its last two dot-separated parts, joined by a dot, must be one of :data:`WMF_DOMAINS`.
* :func:`normalized_host` is the reference's host normalization (``Webrequest.normalizeHost``)
  returning the ``normalized_host`` struct (:data:`NORMALIZED_HOST_TYPE`).
* :func:`is_spider` is the reference's spider test (``Webrequest.isSpider``): ``-`` or a match
  of its case-insensitive ``spiderPattern``, evaluated with Java regexes as in the reference.
* :func:`field` builds the column of a nested field from the parts of its path.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType, StructField, StructType

#: Second-level domains owned by the Wikimedia Foundation or an affiliate (reference list).
WMF_DOMAINS: tuple[str, ...] = (
    "wikimedia.org",
    "wikibooks.org",
    "wikinews.org",
    "wikipedia.org",
    "wikiquote.org",
    "wikisource.org",
    "wiktionary.org",
    "wikiversity.org",
    "wikivoyage.org",
    "wikidata.org",
    "wikifunctions.org",
    "mediawiki.org",
    "wikimediafoundation.org",
    "wikiworkshop.org",
    "wmfusercontent.org",
    "wmflabs.org",
    "wmcloud.org",
    "toolforge.org",
)

#: Hosts longer than this are never WMF hosts (the reference's guard against abuse).
MAX_HOSTNAME_LENGTH = 800

#: First host labels that are qualifiers rather than a project (``en.m.wikipedia.org``).
HOST_QUALIFIERS: tuple[str, ...] = ("m", "mobile", "wap", "zero", "www", "download")

#: The value of every ``normalized_host`` part that could not be determined.
UNKNOWN_HOST_PART = "-"

#: Type of the ``normalized_host`` column (field order as in the reference).
NORMALIZED_HOST_TYPE = StructType(
    [
        StructField("project_class", StringType(), True),
        StructField("project", StringType(), True),
        StructField("qualifiers", ArrayType(StringType(), True), True),
        StructField("tld", StringType(), True),
        StructField("project_family", StringType(), True),
    ]
)


# The reference's spiderPattern (Webrequest.java), a Java regex used with find(); rlike is
# Java's Pattern.find too, so case-insensitivity, "." and "$" behave exactly as upstream.
_SPIDER_ANYWHERE = (
    "bot|spider|WordPress|AppEngine|AppleDictionaryService|Python-urllib|python-requests|"
    "Google-HTTP-Java-Client|[Ff]acebook|[Yy]ahoo|RockPeaks|PhantomJS|http"
)
_SPIDER_AT_START = (
    "goo wikipedia|MediaWikiCrawler-Google|wikiwix-bot|Java/|curl|PHP/|Faraday|HTTPC|Ruby|\\.NET|"
    "Python|Apache|Scrapy|PycURL|libwww|Zend|wget|nodemw|WinHttpRaw|Twisted|com\\.eusoft|Lagotto|"
    "Peggo|Recuweb|check_http|Magnus|MLD|Jakarta|find-link|J\\. River|projectplan9|ADmantX|"
    "httpunit|LWP|iNaturalist|WikiDemo|FSResearchIt|livedoor|Microsoft Monitoring|MediaWiki|"
    "User:|User_talk:|github|tools.wmflabs.org|Blackboard Safeassign|Damn Small XSS|MeetingRoomApp|"
    "\\S+@\\S+\\.[a-zA-Z]{2,3}"
)
#: The spider regex of :func:`is_spider` (Java syntax).
SPIDER_PATTERN = f"(?i)^(.*({_SPIDER_ANYWHERE}).*|({_SPIDER_AT_START}).*)$"


def quote_name(name: str) -> str:
    """``name`` quoted with backticks so Spark reads it as one identifier (dots and all)."""
    return "`" + name.replace("`", "``") + "`"


def field(path: Sequence[str]) -> Column:
    """The column of the (possibly nested) field ``path``, e.g. ``("meta", "domain")``.

    Each part is taken literally: a top-level name containing a dot is one part.
    """
    if not path:
        raise ValueError("expected a field path with at least one part, found an empty path")
    col = F.col(quote_name(path[0]))
    for part in path[1:]:
        col = col.getField(part)
    return col


def is_wmf_hostname(host: Column) -> Column:
    """True when ``host`` is a Wikimedia host (see the module docstring); false for NULL.

    ``en.m.wikipedia.org`` → true, ``wikidata.org.`` → true, ``en-wiki.org`` → false,
    ``en.wikipedia.nom.it`` → false. The result is never NULL.
    """
    # Strip every trailing dot after lower-casing, as the reference does before splitting.
    stripped = F.rtrim(F.lower(host), F.lit("."))
    # The domains all have exactly two labels, so "the last two labels joined with a dot" is
    # everything after the second-to-last dot (the whole string when there is only one dot).
    last_two = F.substring_index(stripped, ".", -2)
    test = (F.length(host) <= MAX_HOSTNAME_LENGTH) & last_two.isin(*WMF_DOMAINS)
    return F.coalesce(test, F.lit(False))


#: The characters Java's String.trim() removes (U+0000 to U+0020).
_CONTROL_AND_SPACE = "".join(chr(c) for c in range(0x21))


def _unknown_host() -> Column:
    return F.struct(
        F.lit(UNKNOWN_HOST_PART).alias("project_class"),
        F.lit(UNKNOWN_HOST_PART).alias("project"),
        F.array().cast(ArrayType(StringType())).alias("qualifiers"),
        F.lit(UNKNOWN_HOST_PART).alias("tld"),
        F.lit(UNKNOWN_HOST_PART).alias("project_family"),
    )


def host_labels(host: Column) -> Column:
    """The dot-separated labels of ``host`` as :func:`normalized_host` sees them.

    Lower-cased, cut at the first ``:`` (port), runs of ``.`` or ``/`` collapsed into one ``.``,
    a trailing ``.`` dropped, split on ``.``. NULL when ``host`` is NULL or blank (Java's
    ``trim()``: every character up to U+0020). ``en..m//Wikipedia.org.:80`` →
    ``[en, m, wikipedia, org]``.
    """
    lowered = F.lower(host)
    without_port = F.substring_index(lowered, ":", 1)
    # Regexes cost per row: collapse runs of "." and "/" only in the rare hosts that have them.
    collapsed = F.when(
        without_port.contains("/") | without_port.contains(".."),
        F.regexp_replace(without_port, r"[/.]+", "."),
    ).otherwise(without_port)
    # Java's String.split drops trailing empty strings; after collapsing there is at most one
    # trailing dot, so stripping them all is the same thing.
    labels = F.split(F.rtrim(collapsed, F.lit(".")), r"\.")
    blank = host.isNull() | (F.trim(host, F.lit(_CONTROL_AND_SPACE)) == F.lit(""))
    return F.when(~blank, labels)


def normalized_host_of_labels(labels: Column) -> Column:
    """The ``normalized_host`` struct (type :data:`NORMALIZED_HOST_TYPE`) of host ``labels``
    (from :func:`host_labels`).

    NULL labels, one label or a numeric last label (an IP address) → the unknown struct (every
    part ``-``, no qualifiers). Else ``tld`` is the last label, ``project_family`` (copied to
    ``project_class``) the one before it; with more than two labels and a first label other than
    ``www``, the first label is a qualifier when it is one of :data:`HOST_QUALIFIERS`, else the
    ``project``; with more than three labels every label between the first and the family is a
    qualifier.

    Pass a column that holds the labels rather than the :func:`host_labels` expression itself
    when speed matters: the labels are read about a dozen times here, and a materialized column
    is computed once per row (see ``eljobs.refine.transforms.add_normalized_host``).
    """
    n = F.size(labels)
    first = F.element_at(labels, 1)
    family = F.element_at(labels, -2)
    tld = F.element_at(labels, -1)
    names_project = (n > 2) & (first != F.lit("www"))
    first_is_qualifier = first.isin(*HOST_QUALIFIERS)
    project = F.when(names_project & ~first_is_qualifier, first).otherwise(F.lit(UNKNOWN_HOST_PART))
    first_qualifier = F.when(names_project & first_is_qualifier, F.array(first)).otherwise(
        F.array().cast(ArrayType(StringType()))
    )
    middle = F.when(n > 3, F.slice(labels, F.lit(2), n - 3)).otherwise(
        F.array().cast(ArrayType(StringType()))
    )
    known = F.struct(
        family.alias("project_class"),
        project.alias("project"),
        F.concat(first_qualifier, middle).alias("qualifiers"),
        tld.alias("tld"),
        family.alias("project_family"),
    )
    unknown = labels.isNull() | (n <= 1) | tld.rlike(r"^[0-9]+$")
    return F.when(unknown, _unknown_host()).otherwise(known)


def normalized_host(host: Column) -> Column:
    """The ``normalized_host`` struct of ``host`` (type :data:`NORMALIZED_HOST_TYPE`): the
    reference's algorithm, :func:`normalized_host_of_labels` of :func:`host_labels`.

    ``en.m.wikipedia.org`` → (``wikipedia``, ``en``, [``m``], ``org``, ``wikipedia``); NULL or
    blank → all parts ``-`` and no qualifiers.
    """
    return normalized_host_of_labels(host_labels(host))


def is_spider(ua: Column) -> Column:
    """True when the user agent ``ua`` is ``-`` or matches :data:`SPIDER_PATTERN`; NULL for NULL.

    ``Googlebot/2.1`` → true, ``curl/7.68.0`` → true, ``CURL/7`` → true (case-insensitive),
    ``Mozilla/5.0 (X11; Linux x86_64) Firefox/118.0`` → false.
    """
    return (ua == F.lit("-")) | ua.rlike(SPIDER_PATTERN)
