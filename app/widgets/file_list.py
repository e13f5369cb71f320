"""A list of image files that accepts drops of files and folders, with add/remove buttons."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.widgets.drop_area import DropArea

FILE_FILTER = "Images (*.tif *.tiff *.png);;All files (*)"


class FileList(DropArea):
    """Files the user chose, in order; folders expand to the images inside them.

    ``expand`` turns dropped or chosen paths into files and may raise
    :class:`pn2v_engine.PN2VError`; the message then appears under the list.
    """

    files_changed = Signal(list)
    selection_changed = Signal(object)

    def __init__(
        self,
        placeholder: str,
        dialog_title: str = "Add images",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.paths_dropped.connect(self.add_paths)
        self._dialog_title = dialog_title
        self.start_folder = str(Path.home())
        self.list = QListWidget()
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setAlternatingRowColors(True)
        self.list.setToolTip("Drop image files or folders here (TIFF or PNG).")
        self.list.currentRowChanged.connect(self._current_changed)
        self.placeholder = QLabel(placeholder)
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.message = QLabel()
        self.message.setObjectName("errorText")
        self.message.setWordWrap(True)
        self.message.hide()

        self.add_files_button = QPushButton("Add files…")
        self.add_files_button.setToolTip("Choose TIFF or PNG files to add.")
        self.add_files_button.clicked.connect(self._choose_files)
        self.add_folder_button = QPushButton("Add folder…")
        self.add_folder_button.setToolTip("Add every TIFF and PNG image in a folder and below.")
        self.add_folder_button.clicked.connect(self._choose_folder)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected files from the list (Delete).")
        self.remove_button.clicked.connect(self.remove_selected)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Remove all files from the list.")
        self.clear_button.clicked.connect(self.clear)
        QShortcut(QKeySequence.StandardKey.Delete, self.list, self.remove_selected)

        buttons = QHBoxLayout()
        for button in (
            self.add_files_button,
            self.add_folder_button,
            self.remove_button,
            self.clear_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.placeholder)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.message)
        layout.addLayout(buttons)
        self._update_placeholder()

    # ------------------------------------------------------------------ content
    def files(self) -> list[Path]:
        return [Path(self.list.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.count)]

    @property
    def count(self) -> int:
        return self.list.count()

    def set_files(self, paths: Iterable[Path]) -> None:
        self.list.clear()
        self._append(paths)
        self.files_changed.emit(self.files())

    def add_paths(self, paths: Iterable[Path]) -> None:
        """Add files and folders (expanded to their images), skipping duplicates.

        Paths that are not images are reported under the list; the others are added.
        """
        from pn2v_engine import PN2VError, list_images

        problems: list[str] = []
        files: list[Path] = []
        for path in paths:
            try:
                files += list_images([Path(path)])
            except PN2VError as error:
                problems.append(error.message)
        if problems:
            hint = "Only TIFF (.tif, .tiff) and PNG images can be used."
            self.show_message(
                " ".join(problems[:3]) + (" …" if len(problems) > 3 else "") + f" {hint}"
            )
        else:
            self.message.hide()
        known = set(self.files())
        new = []
        for file in files:
            if file not in known:
                known.add(file)
                new.append(file)
        self._append(new)
        self.files_changed.emit(self.files())

    def remove_selected(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))
        self._update_placeholder()
        self.files_changed.emit(self.files())

    def clear(self) -> None:
        self.list.clear()
        self.message.hide()
        self._update_placeholder()
        self.files_changed.emit([])

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def _append(self, paths: Iterable[Path]) -> None:
        for path in paths:
            item = QListWidgetItem(path.name)
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setToolTip(str(path))
            self.list.addItem(item)
        self._update_placeholder()
        if self.list.currentRow() < 0 and self.count:
            self.list.setCurrentRow(0)

    def _update_placeholder(self) -> None:
        self.placeholder.setVisible(self.count == 0)

    def _current_changed(self, row: int) -> None:
        files = self.files()
        self.selection_changed.emit(files[row] if 0 <= row < len(files) else None)

    # ------------------------------------------------------------------ dialogs
    def _choose_files(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(
            self, self._dialog_title, self.start_folder, FILE_FILTER
        )
        if names:
            self.start_folder = str(Path(names[0]).parent)
            self.add_paths(Path(n) for n in names)

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, self._dialog_title, self.start_folder)
        if folder:
            self.start_folder = folder
            self.add_paths([Path(folder)])
