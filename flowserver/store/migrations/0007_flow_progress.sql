-- Our own words for where a flow stands: the column and the JSON names inside it (states
-- queued next, the trail back can undo). Flows in progress are carried over: the JSON keys
-- are object keys written by encoding/json, never inside a string value (a quote there is
-- escaped), so a plain replace renames exactly them.
ALTER TABLE flows RENAME COLUMN stash TO progress;
UPDATE flows SET progress = replace(replace(progress, '"scheduled":', '"queue":'), '"history":', '"trail":');
