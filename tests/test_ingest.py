"""Ingest on real PostgreSQL: bad input is reported and loses nothing else."""

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from project.embeddings.ingest import documents as ingest_module
from project.embeddings.ingest.documents import TextInput, document_ingest, files_ingest
from project.embeddings.models import Chunk, Document, EmbeddingJob
from providers.tokenization import encoding_for_model

pytestmark = pytest.mark.django_db

ENGLISH = "The toll gate lets cars through at the speed the road holds. " * 3


def test_texts_become_documents_and_chunks_with_counts_and_hashes():
    report = document_ingest(texts=[TextInput(ENGLISH, source="a.txt", metadata={"lang": "en"})], collection="c1")
    assert report.created == 1 and report.chunks == 1
    document = Document.objects.get(collection="c1")
    chunk = document.chunks.get()
    assert document.metadata == {"lang": "en"} and len(document.content_hash) == 64
    assert chunk.token_count == len(encoding_for_model("text-embedding-3-small").encode_ordinary(chunk.text))
    assert chunk.text == ENGLISH and len(chunk.content_hash) == 64


def test_empty_file_is_skipped_and_binary_file_is_an_error_naming_it(tmp_path: Path):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text("  \n\n ")
    (tmp_path / "image.png").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (tmp_path / "good.txt").write_text(ENGLISH)

    report = files_ingest(paths=[tmp_path], collection="c2")

    assert report.created == 1
    assert Document.objects.filter(collection="c2").get().source.endswith("good.txt")
    assert sorted(line.split(":")[0].rsplit("/", 1)[-1] for line in report.skipped) == ["blank.txt", "empty.txt"]
    assert any("image.png" in error and "binary" in error for error in report.errors)
    assert any("latin1.txt" in error and "UTF-8" in error for error in report.errors)


def test_nul_bytes_are_removed_with_a_warning(tmp_path: Path):
    (tmp_path / "nul.txt").write_bytes(b"before\x00after. " + ENGLISH.encode())
    report = files_ingest(paths=[tmp_path / "nul.txt"], collection="c3")
    document = Document.objects.get(collection="c3")
    assert "\x00" not in document.text and document.text.startswith("beforeafter.")
    assert any("nul.txt" in warning and "NUL" in warning for warning in report.warnings)
    (tmp_path / "short.txt").write_bytes(b"hello\x00world. A short text.")
    report = files_ingest(paths=[tmp_path / "short.txt"], collection="c3")
    assert report.errors == [] and report.created == 1 and "NUL" in report.warnings[0]
    report = document_ingest(texts=[TextInput("x\x00y", source="inline")], collection="c3")
    assert Document.objects.filter(collection="c3", text="xy").exists()
    assert report.warnings == ["inline: removed 1 NUL byte(s)"]


def test_utf16_file_with_bom_is_text(tmp_path: Path):
    (tmp_path / "u16.txt").write_text("안녕하세요. Hello 😀", encoding="utf-16")
    report = files_ingest(paths=[tmp_path / "u16.txt"], collection="c4")
    assert report.errors == [] and Document.objects.get(collection="c4").text == "안녕하세요. Hello 😀"


def test_same_content_twice_is_stored_once():
    first = document_ingest(texts=[TextInput(ENGLISH, source="one")], collection="c5")
    second = document_ingest(texts=[TextInput(ENGLISH, source="two"), TextInput(ENGLISH, source="three")], collection="c5")
    assert first.created == 1 and second.created == 0 and second.duplicates == 2
    assert second.documents[0].pk == first.documents[0].pk
    assert Document.objects.filter(collection="c5").count() == 1
    assert Chunk.objects.filter(document__collection="c5").count() == first.chunks


def test_missing_file_is_an_error_and_the_others_go_on(tmp_path: Path):
    (tmp_path / "ok.txt").write_text(ENGLISH)
    report = files_ingest(paths=[tmp_path / "nope.txt", tmp_path / "ok.txt"], collection="c6")
    assert report.created == 1 and "nope.txt" in report.errors[0]


def test_a_200k_token_file_is_chunked_within_the_bound(tmp_path: Path):
    paragraph = "Rate limits are per organization and per model. Whichever limit is hit first applies. " * 20
    text = "\n\n".join(f"{i}. {paragraph}" for i in range(600))
    (tmp_path / "big.txt").write_text(text)
    encoding = encoding_for_model("text-embedding-3-small")
    total = len(encoding.encode_ordinary(text))
    assert total > 200_000

    report = files_ingest(paths=[tmp_path / "big.txt"], collection="c7", chunk_size=512, chunk_overlap=64)

    chunks = list(Chunk.objects.filter(document__collection="c7").order_by("seq"))
    assert report.chunks == len(chunks) > total // 512
    assert max(chunk.token_count for chunk in chunks) <= 512
    assert chunks[0].start == 0 and chunks[-1].start + len(chunks[-1].text) == len(text)


def test_texts_are_written_in_batches_each_seen_by_on_batch_and_a_repeat_in_a_batch_is_one_document(monkeypatch):
    monkeypatch.setattr(ingest_module, "BATCH_DOCUMENTS", 3)
    texts = [TextInput(f"Text {i}. {ENGLISH}", source=f"t{i}") for i in range(6)]
    texts.insert(2, TextInput(texts[1].text, source="again"))  # the same content in the same batch
    batches = []

    report = document_ingest(texts=texts, collection="c8", on_batch=lambda documents: batches.append(documents))

    assert [len(batch) for batch in batches] == [3, 3, 1]
    assert batches[0][1] is batches[0][2] and report.duplicates == 1 and report.created == 6
    stored = Document.objects.filter(collection="c8")
    assert stored.count() == 6 and {d.pk for batch in batches for d in batch} == set(stored.values_list("pk", flat=True))
    assert Chunk.objects.filter(document__collection="c8").count() == report.chunks == 6


def test_the_ingest_command_with_embed_makes_a_job_whose_totals_are_what_it_stored(tmp_path: Path):
    for i in range(5):
        (tmp_path / f"{i}.txt").write_text(f"Note {i}. {ENGLISH}")
    out = StringIO()

    call_command("ingest", str(tmp_path), "--embed", "--collection", "c9", stdout=out, verbosity=0)

    job = EmbeddingJob.objects.latest("pk")
    assert f"job {job.pk} (sync lane): 5 chunks in 1 groups" in out.getvalue()
    assert job.documents.count() == 5 and job.total_chunks == 5 and not job.ingesting
    assert job.status == EmbeddingJob.Status.RUNNING  # running workers complete it


def test_the_ingest_command_embeds_on_the_batch_lane_when_asked(tmp_path: Path):
    for i in range(3):
        (tmp_path / f"{i}.txt").write_text(f"Note {i}. {ENGLISH}")
    out = StringIO()

    call_command("ingest", str(tmp_path), "--embed", "--lane", "batch", "--collection", "c10", stdout=out, verbosity=0)

    job = EmbeddingJob.objects.latest("pk")
    assert job.lane == "batch" and job.total_chunks == 3
    assert f"job {job.pk} (batch lane)" in out.getvalue() and "beat follows: uv run tollgate up" in out.getvalue()
    assert set(job.groups.values_list("lane", flat=True)) == {"batch"}  # for the driver, not embed tasks
