"""scripts/view_results.py: the server against a real demo run's outputs — pages, JSON endpoints, the free-text
search, video ranges, bad input — and a browser (headless Chromium) clicking a query."""
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from data.dbs.query_db import QueryDb
from tests.helpers_runs import ROOT, run_script, tiny_vcmr_config
from viewer.run_index import RunIndexError, load_run
from viewer.server import ViewerServer


@pytest.fixture(scope="module")
def vcmr_run(demo_dir, tmp_path_factory):
    """A 2-step TVR fine-tuning on the demo corpus and its inf_vcmr.py results on val."""
    tmp = tmp_path_factory.mktemp("viewer")
    config = tiny_vcmr_config(tmp, demo_dir)
    assert run_script(["train_vcmr.py", "--config", str(config)]).returncode == 0
    result = run_script(["inf_vcmr.py", "--config", str(config), "--checkpoint", str(tmp / "run/ckpt/model_best.pt"),
                         "--split", "val", "--output_dir", str(tmp / "eval")])
    assert result.returncode == 0, result.stderr[-2000:]
    return tmp, config


def get(server, path, headers=None):
    request = urllib.request.Request(server.url.rstrip("/") + path, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


@pytest.fixture()
def server(vcmr_run):
    tmp, _ = vcmr_run
    videos = tmp / "videos"
    videos.mkdir(exist_ok=True)
    server = ViewerServer(("127.0.0.1", 0), load_run(tmp / "eval"), videos)
    server.start_in_thread()
    yield server
    server.shutdown()
    server.server_close()


def test_pages_and_the_query_list(server, vcmr_run):
    status, body, headers = get(server, "/")
    assert status == 200 and b"<title>HERO results viewer</title>" in body
    assert b"http://" not in body and b"https://" not in body  # assets are local, no CDN
    assert get(server, "/static/app.js")[0] == 200 and get(server, "/static/style.css")[0] == 200
    assert get(server, "/static/../run_index.py")[0] == 404
    summary = json.loads(get(server, "/api/summary")[1])
    metrics = json.loads((vcmr_run[0] / "eval/results_val/metrics.json").read_text())
    num_queries = len(QueryDb(json.loads(vcmr_run[1].read_text())["val_query_txt_db"]))
    assert summary["kind"] == "moment" and summary["num_queries"] == num_queries and summary["metrics"] == metrics
    page = json.loads(get(server, "/api/queries?per_page=20&page=2")[1])
    assert page["total"] == num_queries and len(page["items"]) == 20
    ranked = json.loads(get(server, "/api/queries?sort=rank&status=hit0.5&per_page=500")[1])["items"]
    assert all(r["rank_05"] is not None for r in ranked)
    assert [r["rank_07"] for r in ranked if r["rank_07"]] == sorted(r["rank_07"] for r in ranked if r["rank_07"])
    misses = json.loads(get(server, "/api/queries?status=miss0.5&per_page=500")[1])["total"]
    assert misses + len(ranked) == num_queries
    word = page["items"][0]["text"].split()[0]
    found = json.loads(get(server, f"/api/queries?text={word}&per_page=500")[1])["items"]
    assert found and all(word.lower() in r["text"].lower() for r in found)


def test_a_querys_moments_equal_the_predictions_file(server, vcmr_run):
    predictions = json.loads((vcmr_run[0] / "eval/results_val/predictions.json").read_text())
    idx2video = {i: v for v, i in predictions["video2idx"].items()}
    item = predictions["VCMR"][5]
    detail = json.loads(get(server, f"/api/query/{item['desc_id']}?k=10")[1])
    assert [(m["video"], m["st"], m["ed"], m["score"]) for m in detail["moments"]] == \
        [(idx2video[v], st, ed, score) for v, st, ed, score in item["predictions"][:10]]
    records = {json.loads(line)["desc_id"]: json.loads(line) for line in
               (Path(json.loads((vcmr_run[0] / "eval/results_val/source.json").read_text())["query_db"])
                / "query_data.jsonl").read_text().splitlines()}
    truth = records[item["desc_id"]]
    assert detail["gt"] == {"video": truth["vid_name"], "ts": truth["ts"]} and detail["text"] == truth["desc"]
    gt_video = detail["videos"][truth["vid_name"]]
    assert gt_video["duration"] == truth["duration"] and gt_video["subtitles"]  # subtitles under the timeline
    assert get(server, "/api/query/123456789")[0] == 404


def test_video_files_are_served_with_ranges(server, vcmr_run):
    detail = json.loads(get(server, "/api/queries?per_page=1")[1])["items"][0]
    vid = json.loads(get(server, f"/api/query/{detail['id']}")[1])["gt"]["video"]
    (vcmr_run[0] / "videos" / f"{vid}.mp4").write_bytes(bytes(range(256)) * 4)
    assert json.loads(get(server, f"/api/query/{detail['id']}")[1])["videos"][vid]["url"] == f"/video/{vid}"
    status, body, headers = get(server, f"/video/{vid}", {"Range": "bytes=10-19"})
    assert status == 206 and body == bytes(range(10, 20)) and headers["Content-Range"] == "bytes 10-19/1024"
    assert get(server, f"/video/{vid}", {"Range": "bytes=-24"})[1] == (bytes(range(256)) * 4)[-24:]
    assert get(server, f"/video/{vid}", {"Range": "bytes=5000-"})[0] == 416
    assert get(server, "/video/nope")[0] == 404


def test_free_text_search_over_the_corpus(vcmr_run):
    from viewer.search import CorpusSearch
    tmp, config = vcmr_run
    checkpoint = tmp / "run/ckpt/model_best.pt"
    messages = []
    search = CorpusSearch(config, checkpoint, log=messages.append)
    result = search.search("she walks into the apartment", k=5)
    assert len(result["moments"]) == 5 and [m["rank"] for m in result["moments"]] == [1, 2, 3, 4, 5]
    assert all(m["st"] < m["ed"] for m in result["moments"]) and result["videos"]
    assert [m for m in messages if m.startswith(("encoding", "corpus embeddings"))][0].startswith("encoding")
    again = CorpusSearch(config, checkpoint, log=messages.append)  # the corpus embeddings come from the cache
    assert messages[-1].startswith("corpus embeddings from")
    assert again.search("she walks into the apartment", k=5)["moments"] == result["moments"]
    server = ViewerServer(("127.0.0.1", 0), None, None, search.search)
    server.start_in_thread()
    try:
        assert json.loads(get(server, "/api/summary")[1])["search"] is True
        status, body, _ = get(server, "/api/search?q=she%20walks%20into%20the%20apartment&k=5")
        assert status == 200 and json.loads(body)["moments"] == result["moments"]
        assert get(server, "/api/search?q=%20")[0] == 400
    finally:
        server.shutdown()
        server.server_close()


def test_qa_results(demo_dir, tmp_path):
    db = demo_dir / "txt_db" / "tvqa_val.db"
    records = [json.loads(line) for line in (db / "query_data.jsonl").read_text().splitlines()][:6]
    out = tmp_path / "results_val"
    out.mkdir()
    (out / "predictions.json").write_text(json.dumps({str(r["qid"]): 0 for r in records}))
    (out / "predictions_spans.json").write_text(json.dumps({str(r["qid"]): [1.0, 4.5] for r in records}))
    (out / "source.json").write_text(json.dumps({"query_db": str(db),
                                                 "sub_txt_db": str(demo_dir / "txt_db/tv_subtitles.db")}))
    index = load_run(tmp_path)
    assert index.kind == "qa" and len(index.rows) == 6
    right = [r for r in records if r["answer_idx"] == 0]
    assert index.list_queries(status="correct")["total"] == len(right)
    detail = index.query(str(records[0]["qid"]))
    assert detail["answers"] == records[0]["answers"] and detail["predicted"] == 0
    assert detail["correct"] == records[0]["answer_idx"] and detail["pred_span"] == [1.0, 4.5]
    assert detail["gt_span"] == records[0]["ts"] and detail["videos"][records[0]["vid_name"]]["subtitles"]


def test_bad_run_folders_are_one_line(tmp_path):
    with pytest.raises(RunIndexError, match="no results_<split>/predictions.json"):
        load_run(tmp_path)
    (tmp_path / "results_val").mkdir()
    (tmp_path / "results_val" / "predictions.json").write_text(json.dumps({"answers": ["a", "b"]}))
    with pytest.raises(RunIndexError, match="neither moment-retrieval predictions .* nor QA predictions"):
        load_run(tmp_path)
    result = subprocess.run([sys.executable, "scripts/view_results.py", str(tmp_path / "nowhere"), "--port", "0"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and "not a folder" in lines[0]


def test_browser_clicks_a_query_and_sees_the_timeline(server):
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.skip("Debian's chromium + chromium-driver are not installed (.ci/run installs them with apt-get)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    # a query the 2-step model ranked a correct moment for, when it has one (its ground truth is drawn either way)
    hit = (json.loads(get(server, "/api/queries?status=hit0.5&sort=rank&per_page=1")[1])["items"]
           or json.loads(get(server, "/api/queries?per_page=1")[1])["items"])[0]
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path), options=options)
    try:
        browser.get(server.url)
        wait = WebDriverWait(browser, 30)
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#queries li.query")))
        box = browser.find_element(By.ID, "filter-text")
        box.send_keys(hit["id"])
        selector = f'#queries li.query[data-id="{hit["id"]}"]'
        item = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, selector)))
        item.click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#detail svg.timeline rect.gt")))
        assert browser.find_element(By.CSS_SELECTOR, "#detail h2").text == hit["text"]
        moments = browser.find_elements(By.CSS_SELECTOR, "#detail rect.moment")
        ranks = {r.get_attribute("data-rank") for r in moments}
        assert "1" in ranks  # the top prediction is drawn …
        gt_video = json.loads(get(server, f"/api/query/{hit['id']}")[1])["gt"]["video"]
        gt_rects = f'#detail section[data-video="{gt_video}"] rect.gt'
        assert browser.find_elements(By.CSS_SELECTOR, gt_rects)  # … and the ground truth on its video
        if os.environ.get("HERO_VIEWER_SCREENSHOT"):
            browser.save_screenshot(os.environ["HERO_VIEWER_SCREENSHOT"])
    finally:
        browser.quit()
